"""The plumbing every stage shares (configuration, the data folder, the manifest, domain names, errors); it imports no stage."""
