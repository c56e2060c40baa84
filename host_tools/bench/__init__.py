"""`make bench`: figures measured on the simulations and the virtual boards, printed as JSON
lines and written under docs/results/."""
