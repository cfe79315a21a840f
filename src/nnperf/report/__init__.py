"""Views of records: tables, charts and documents. Reads results, never measures; heavy imports are lazy."""
