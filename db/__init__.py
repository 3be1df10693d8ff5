"""SQLite storage through sqlite-utils: connection pragmas, migrations, the dedup index, the store."""
