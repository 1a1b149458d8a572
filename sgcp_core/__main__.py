# Copyright 2026 The sgcp_ros Authors
# SPDX-License-Identifier: Apache-2.0
import sys

from sgcp_core.cli import main

sys.exit(main())
