"""The one error of the data package: bad input data, said in one line a GUI can show as it is."""


class DataError(ValueError):
    """Bad input data: the message is one line naming the source, what was wrong, and what is expected."""
