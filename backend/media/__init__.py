"""The media library (DESIGN section 15): files a user attaches to messages, stored once per account by content
hash under the data directory, their type sniffed from the bytes, served to the account or through a signed,
expiring link that opens one file and nothing else."""
