"""A small roster for ingest tests."""
from mailworker.members import add_member

MEMBERS = [
    ("김민지", "kim.minji@example.net", "student", ["minji.kim@univ.example.ac.kr"]),
    ("Daniel Park", "daniel.park@example.com", "developer", []),
    ("이서연", "seoyeon.lee@example.org", "citizen", []),
    ("최준호", "junho.choi@example.co.kr", "business", []),
]


def load_roster(clock):
    return {email: add_member(name, email, cat, clock, aliases=aliases,
                              language="en" if name.isascii() else "ko")
            for name, email, cat, aliases in MEMBERS}
