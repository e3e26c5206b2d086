"""Errors a user can cause. Each carries one sentence that says what happened and what to do."""


class QAError(Exception):
    """Base class: the message is meant for a person, not a traceback."""


class IndexNotFound(QAError):
    pass


class IndexMismatch(QAError):
    pass


class EmptyCorpus(QAError):
    pass


class BadCorpusFile(QAError):
    pass


class BadQuestion(QAError):
    pass
