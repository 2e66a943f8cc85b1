"""Coupling orders: QCD (one power of g_s) and ZPQ (one power of g_q)."""

from .object_library import CouplingOrder, all_orders

QCD = CouplingOrder(name="QCD", expansion_order=99, hierarchy=1)
ZPQ = CouplingOrder(name="ZPQ", expansion_order=99, hierarchy=2)
