"""Plans: a planner's redraw of the grids under one parent, its edits, checks, workload, balance,
diff and publishing as a new boundary version."""
