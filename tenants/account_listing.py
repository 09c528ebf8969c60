"""An employee's sign-in account as the invitation list reads it, kept on the person's row (``account_state``).

The invitation page filters employees by where their invitation stands (selfservice ``InvitationState``), which is
read from the account. To page through one state of a 100,000-person tenant by index ranges, the account's lasting
part is copied to ``people.account_state`` by a ``before_flush`` hook on every ORM write of an employee account
(creation, one-time password, password change, access end); the parts that change with the clock alone (the
one-time password's expiry, a 退職日 or access end reached) stay conditions on the account and the person.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.auth.models import Account, Role
from tenants.models import Person

ACCOUNT_NONE = 0  # no account: never invited
ACCOUNT_ONE_TIME = 1  # a one-time password was issued and not yet replaced (invited, or the invitation expired)
ACCOUNT_IN_USE = 2  # the employee chose a password
ACCOUNT_ENDING = 3  # access ends (``disabled_at`` set, maybe ahead: a 退職日 to come)
ACCOUNT_STATES = (ACCOUNT_NONE, ACCOUNT_ONE_TIME, ACCOUNT_IN_USE, ACCOUNT_ENDING)

_WATCHED = ("person_id", "role", "must_change_password", "disabled_at")


def account_state(account: Account | None) -> int:
    """The ``people.account_state`` value of an employee with this account (or none)."""
    if account is None:
        return ACCOUNT_NONE
    if account.disabled_at is not None:
        return ACCOUNT_ENDING
    # A new account's must_change_password is None until the INSERT applies its default (True).
    return ACCOUNT_IN_USE if account.must_change_password is False else ACCOUNT_ONE_TIME


def _is_employee_account(account: Account) -> bool:
    return account.person_id is not None and account.role is not None and Role(account.role) is Role.EMPLOYEE


def _changed(account: Account) -> bool:
    state = inspect(account)
    return any(state.attrs[name].history.has_changes() for name in _WATCHED)


@event.listens_for(Session, "before_flush")
def keep_account_states(session: Session, _context: Any, _instances: Any) -> None:
    """Copy the state of new, changed and deleted employee accounts to their people (one UPDATE per state)."""
    states: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for account in session.new:
        if isinstance(account, Account) and _is_employee_account(account):
            states[(account.tenant_id, account.person_id)] = account_state(account)  # type: ignore[index]
    for account in session.dirty:
        if isinstance(account, Account) and _changed(account):
            for person_id in inspect(account).attrs["person_id"].history.deleted:  # an account moved off a person
                if person_id is not None:
                    states.setdefault((account.tenant_id, person_id), ACCOUNT_NONE)
            if _is_employee_account(account):
                states[(account.tenant_id, account.person_id)] = account_state(account)  # type: ignore[index]
    for account in session.deleted:
        if isinstance(account, Account) and _is_employee_account(account):
            states[(account.tenant_id, account.person_id)] = ACCOUNT_NONE  # type: ignore[index]
    if not states:
        return
    by_state: dict[tuple[uuid.UUID, int], list[uuid.UUID]] = defaultdict(list)
    for (tenant_id, person_id), state in states.items():
        by_state[(tenant_id, state)].append(person_id)
    with session.no_autoflush:
        for (tenant_id, state), person_ids in sorted(by_state.items(), key=lambda item: (str(item[0][0]), item[0][1])):
            session.execute(
                update(Person)
                .where(Person.tenant_id == tenant_id, Person.id.in_(sorted(person_ids)))
                .values(account_state=state)
                .execution_options(synchronize_session=False)
            )
            for person_id in person_ids:  # people loaded in this session see the value written
                person = session.identity_map.get(identity_key(Person, (tenant_id, person_id)))
                if person is not None:
                    set_committed_value(person, "account_state", state)
