class DomainError(Exception):
    """A request that cannot be carried out, with a message the person can act on."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
