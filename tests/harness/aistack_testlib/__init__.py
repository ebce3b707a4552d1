"""The test helpers shared by the tiers: one package, imported by its name.

tests/conftest.py puts tests/harness on sys.path for pytest; the lint
runners (tests/harness/lint/) and the benchmarks put it on PYTHONPATH or
sys.path themselves. Import a module by the package's name::

    from aistack_testlib import render_shapes

- ``render_shapes``: the app_image role's Dockerfile and .dockerignore, and
  the app_stack role's compose file, unit and .env, rendered through Ansible
  for every example shape (unit tests, lint tier, integration tests,
  benchmarks);
- ``render_proxy``: the nginx_proxy role's nginx.conf for every case (the
  lint tier's ``nginx -t``);
- ``bad_input``: one check-mode playbook run over local hosts, one host per
  bad-input case, and the assertions every bad-input test makes;
- ``built_image``: an image built from a rendered app_image context and
  removed afterwards (integration tests);
- ``role_docs``: each role README's variables table rendered from its
  meta/argument_specs.yml (``--check``: the lint tier's step).

The modules with a command line run as ``python -m aistack_testlib.<module>``
with tests/harness on PYTHONPATH.
"""
