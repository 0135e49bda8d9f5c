"""Scripts scaffold runs in another interpreter (the model's own environment), never imported
by scaffold itself: standard library plus the model's framework only."""
