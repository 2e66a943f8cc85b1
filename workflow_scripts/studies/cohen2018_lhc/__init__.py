"""Cohen, Freytsis and Ostdiek (JHEP 2018), section 5: gluino pairs against Z(->nu nu)+jets."""
