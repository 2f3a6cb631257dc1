"""Forms by concept, one module per group of pages: pairs, corpus, transfer, rating, rounds, rubrics, runs."""
