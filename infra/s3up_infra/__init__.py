"""The s3up AWS CDK app: the upload API (API Gateway, Lambda), its bucket, tables and CDN."""
