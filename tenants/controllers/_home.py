"""The admin home page (管理者ホーム): collection progress per department and what needs attention."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role
from app.auth.principal import Principal, company_staff
from app.config import Settings
from tenants import services

# Geometry of the server-rendered bar chart (SVG user units; the SVG scales to its container).
LABEL_WIDTH = 170
BAR_WIDTH = 330
FIGURE_WIDTH = 150
ROW_HEIGHT = 30
BAR_HEIGHT = 18
LABEL_CHARS = 11


@dataclass(frozen=True, slots=True)
class ChartBar:
    """One horizontal bar: the group's label and its registered (and declined) share."""

    label: str
    full_label: str
    figure: str
    y: int
    registered_width: float
    declined_width: float
    overall: bool = False

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 4

    @property
    def declined_x(self) -> float:
        return LABEL_WIDTH + self.registered_width


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[ChartBar]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH
    bar_height: int = BAR_HEIGHT


# The phone layout: each group's label and figure on a line, its bar full width under it (360 px screens).
PHONE_WIDTH = 320
PHONE_ROW_HEIGHT = 40
PHONE_BAR_HEIGHT = 12


@dataclass(frozen=True, slots=True)
class PhoneBar:
    label: str
    figure: str
    text_y: int
    bar_y: int
    registered_width: float
    declined_x: float
    declined_width: float
    overall: bool


def phone_chart(report: services.ProgressReport) -> list[PhoneBar]:
    """The same progress, stacked for a narrow screen."""
    groups = [(report.overall, True), *((group, False) for group in report.departments)]
    bars = []
    for index, (group, overall) in enumerate(groups):
        top = index * PHONE_ROW_HEIGHT
        registered = round(PHONE_WIDTH * group.ratio, 1)
        bars.append(
            PhoneBar(
                label=f"{group.code} {group.label}".strip(),
                figure=f"{group.registered}/{group.total}人 {group.percent}%",
                text_y=top + 14,
                bar_y=top + 20,
                registered_width=registered,
                declined_x=registered,
                declined_width=round(PHONE_WIDTH * group.declined_ratio, 1),
                overall=overall,
            )
        )
    return bars


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def progress_chart(report: services.ProgressReport) -> Chart:
    """Lay out the progress as horizontal bars: everyone first, then each department, payees last."""
    groups = [(report.overall, True), *((group, False) for group in report.departments)]
    bars = []
    for index, (group, overall) in enumerate(groups):
        label = f"{group.code} {group.label}".strip()
        bars.append(
            ChartBar(
                label=_short(label),
                full_label=label,
                figure=f"{group.registered}/{group.total}人 {group.percent}%",
                y=index * ROW_HEIGHT + 6,
                registered_width=round(BAR_WIDTH * group.ratio, 1),
                declined_width=round(BAR_WIDTH * group.declined_ratio, 1),
                overall=overall,
            )
        )
    return Chart(bars=bars, width=LABEL_WIDTH + BAR_WIDTH + FIGURE_WIDTH, height=len(bars) * ROW_HEIGHT + 6)


class AdminHomeController(Controller):
    path = "/admin"
    guards = [company_staff]
    include_in_schema = False

    @get("/", name="admin_home")
    async def home(self, db_session: AsyncSession, principal: Principal, settings: Settings) -> Template:
        from verification.services import storage_notice  # the 本人確認オプション's storage notice (issue 12)

        report = await services.collection_progress(db_session, principal)
        return Template(
            template_name="tenants/home.html",
            context={
                "report": report,
                "chart": progress_chart(report),
                "phone_bars": phone_chart(report),
                "phone_width": PHONE_WIDTH,
                "phone_bar_height": PHONE_BAR_HEIGHT,
                "phone_height": (len(report.departments) + 1) * PHONE_ROW_HEIGHT,
                "counts": await services.status_counts(db_session, principal),
                "attention": await services.needs_attention(db_session, principal),
                "past_due": await services.past_due_numbers(db_session, principal),
                "early_requests": await services.pending_early_requests(db_session, principal),
                "storage_notice": await storage_notice(db_session, principal, settings),
                "operator_acts": (
                    await services.operator_acts(db_session, principal) if principal.role is Role.ADMIN else []
                ),
            },
        )
