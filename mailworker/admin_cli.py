"""Sub-commands (being written)."""


def register(sub) -> None:
    return None
