"""Where the platform keeps its records: the database behind the job and account stores."""
