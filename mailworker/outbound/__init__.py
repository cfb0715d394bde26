"""Outbound mail: outbox, SMTP/file transports, templates, digest, packages."""
