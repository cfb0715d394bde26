"""Inbound mail: mailbox sources, parsing, classification, the ingest pipeline."""
