#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of check_boot.py's own parsing, on the host (make test).

Run alone: python3 -m unittest ci/test_check_boot.py -v
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_boot import demux  # noqa: E402

T1 = "smmuv3_btm_inval op=vmall-s1 vmid=0 asid=-1 addr=0x0 len=0x0"
T3 = "smmu_iotlb_inv_all IOTLB invalidate all"
T2 = "smmu_iotlb_insert IOTLB ++ asid=1 vmid=12 addr=0x1000 tg=0 level=3"


class Demux(unittest.TestCase):
    def test_whole_lines_unchanged(self):
        raw = ["KSV: BEGIN badbtm", T1, "KSV: END badbtm", T2]
        self.assertEqual(demux(raw), raw)

    def test_trace_inside_a_console_line(self):
        # As seen in CI: the UART's bytes cut by a trace line, then "\r\n".
        raw = ["KSV: BEGIN badbtm" + T1, "", "KSV: x"]
        self.assertEqual(demux(raw), [T1, "KSV: BEGIN badbtm", "KSV: x"])

    def test_console_line_cut_twice(self):
        raw = ["KSV: BE" + T1, T2, "GIN bad" + T2, "btm", "KSV: END badbtm"]
        self.assertEqual(demux(raw), [T1, T2, T2, "KSV: BEGIN badbtm", "KSV: END badbtm"])

    def test_kernel_line_cut(self):
        raw = ["[    7.01433" + T1, "1] Freeing unused kernel memory"]
        self.assertEqual(demux(raw), [T1, "[    7.014331] Freeing unused kernel memory"])

    def test_every_enabled_event(self):
        raw = ["KSV: e2e: BTM-B" + T3, "EGIN x", "KSV: e2e: CH" + T2, "ECK y ok"]
        self.assertEqual(demux(raw), [T3, "KSV: e2e: BTM-BEGIN x", T2, "KSV: e2e: CHECK y ok"])

    def test_module_names_are_not_trace(self):
        raw = ["KSV: e2e: modules: kvm_vmid_pin refcnt 1, smmu_v3_btm refcnt -1",
               "KSV: smmuv3_btm_invalidations 3"]
        self.assertEqual(demux(raw), raw)

    def test_cut_at_the_end_is_kept(self):
        self.assertEqual(demux(["KSV: DO" + T1]), [T1, "KSV: DO"])


if __name__ == "__main__":
    unittest.main()
