"""Print each test of the given files from a JUnit XML report with its outcome, so that a CI
log shows that they ran (the image test: never skipped on CI)."""

import sys
import xml.etree.ElementTree as ET

report, *files = sys.argv[1:]
for case in ET.parse(report).getroot().iter("testcase"):
    module = case.get("classname", "").replace(".", "/") + ".py"
    if module in files:
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        seconds = float(case.get("time", 0))
        print(f"{module}::{case.get('name')} {outcome.upper()} in {seconds:.1f}s")
