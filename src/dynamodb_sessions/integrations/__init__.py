"""Framework adapters. Each imports its framework, and names the extra to install if missing."""
