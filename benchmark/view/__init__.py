"""``afbench view``: a local web app over run directories — the leaderboard, a task × framework matrix, each
trial's conversation and the timeline of its model and tool calls (from its trace), and two frameworks side by
side on the same task. Server-rendered pages with inline CSS, no script from anywhere: it needs no network."""
