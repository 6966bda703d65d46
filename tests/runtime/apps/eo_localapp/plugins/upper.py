"""A plugin: ``apply`` upper-cases."""


def apply(text: str) -> str:
    return text.upper()
