"""Cohen, Freytsis and Ostdiek (JHEP 2018), section 3 and appendix A: the toy model."""
