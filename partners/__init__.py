"""Consultant partners (社労士事務所): client links, file exchange, notices (later issue)."""
