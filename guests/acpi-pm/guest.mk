# acpi-pm: finds and checks the ACPI tables as an OS does, measures the ACPI PM timer against the PIT, and powers
# off through PM1a_CNT with the SLP_TYP the DSDT's \_S5 gives (see acpi.c). Reads low physical memory through
# constant addresses, which GCC would flag as out-of-bounds accesses.
GUESTS += $(BUILD)/acpi-pm.elf

$(BUILD)/acpi-pm/%.o: acpi-pm/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Wno-array-bounds -Wno-stringop-overread -c $< -o $@

$(BUILD)/acpi-pm.elf: $(BUILD)/lib32/mb_entry.o $(BUILD)/acpi-pm/acpi.o $(LIB32_OBJS) lib/link32.ld
	$(LD) $(LDFLAGS32) -T lib/link32.ld -o $@ $(filter %.o,$^) $(LIBGCC32)
