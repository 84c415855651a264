"""The PostgreSQL side: connection settings, connections, the embedded server, the raw
schema the loader owns, and running dbt against the same database.
"""
