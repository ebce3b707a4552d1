"""Stand-in for ansible-test's get-pip bootstrap script, for closed networks.

ansible-test downloads get-pip.py from a host our test machines cannot reach.
This file does the same job with what Python already ships: ensurepip installs
the bundled pip, then pip installs the requested packages from the machine's
configured package index. tests/harness/sanity.sh puts it where ansible-test
looks for its cached copy.
"""

import ensurepip
import os
import subprocess
import sys

# Options of get-pip.py itself that `pip install` does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

# ensurepip points PIP_CONFIG_FILE at /dev/null in os.environ; the real pip run
# must see the machine's pip configuration (index, CA bundle) again.
environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=environment))
