"""Platform code under the workflows: the job runtime, accounts and tenancy, and storage."""
