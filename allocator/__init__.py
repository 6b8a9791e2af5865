"""Pure allocation logic on plain values: no Flask, no SQLAlchemy, no HTTP."""
