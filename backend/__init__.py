"""The s3up upload API: Lambda handlers over a small shared layer, and a local stack to run them.

`backend.handlers.<route>.handler(event, context)` are the Lambda entry points (configured by
environment variables, see `backend.config`); `backend.local.LocalStack` runs the same handlers
behind a local API Gateway stand-in on an embedded moto server.
"""
