"""Fair use: tier policy, token-bucket math (pure), adaptive load, abuse blocks, admission."""
