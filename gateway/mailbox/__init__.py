"""Mailboxes as intake sources and as a destination for received faxes: IMAP, EWS and Microsoft Graph."""
