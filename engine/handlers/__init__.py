"""The engine's Lambda entry points: commands from the input queue, tasks from the work queue,
and the tasks the work queue dead-lettered."""
