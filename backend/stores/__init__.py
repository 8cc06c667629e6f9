"""Where the API keeps its records: `FileStore` and `TokenStore` implementations.

`dynamodb` is what runs on AWS Lambda (the `Files` and tokens tables); `sqlite` keeps the same
records in one SQLite file (WAL), for the local stack. `Config.table_store` chooses:
`"dynamodb"`, or the path of a SQLite file. Nothing outside this package knows which one runs.
"""
