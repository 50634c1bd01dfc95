"""Texts shared by the cascade front-end tests (a uniquely named module: the test folders are not packages)."""

PROMPT = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many in all?"
WEAK_ANSWER = "She sold 48 / 2 = 24 clips in May, so 48 + 24 = 72 clips in all. The answer is 72."
STRONG_ANSWER = "In May she sold 24 clips. Altogether 48 + 24 = 72 clips."
