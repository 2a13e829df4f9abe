"""The one SQLAlchemy MetaData every capability's tables register on."""

from sqlalchemy import MetaData

# A naming convention keeps constraint names stable across SQLite and PostgreSQL, so migrations can name them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)
