"""Who is calling: virtual keys, static keys, JWT, and the admin API for keys."""
