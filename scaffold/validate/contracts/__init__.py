"""One cross-file contract per server: `scaffold.validate.contracts.<name>` has `check(ctx)`.

The module name is the registry's `contract` field (scaffold.servers, from _facts.json); the
runner imports it by name. Each check records problems on the validation Context: as far as
the project's files allow, the server in the container listens on the routes' port (and on
0.0.0.0), serves the routes' paths, and finds its model where Azure mounts it
(shared/reference/azureml.md §1.2, §4, §5). What the files do not determine is skipped,
never guessed.
"""
