"""The prompts and priced models the contract tests share."""

PROMPTS = ["What is 2 + 2?", "Prove that there are infinitely many primes.", "Write a haiku about autumn.",
           "Explain how a hash map handles collisions.", "Name three primary colors."]
PRICES = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "local": (0.0, 0.0)}
# The models of the small test router each priced name stands for.
STAND_IN = {"gpt-4o": "gpt-4-1106-preview", "gpt-4o-mini": "gpt-3.5-turbo-1106", "local": "mixtral-8x7b-instruct-v0.1"}
