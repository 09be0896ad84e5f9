# plat-lib: GDT/IDT/interrupt stubs and 8259 helpers shared by the plat-* guests.
# Users list the objects themselves ($(BUILD)/plat-lib/plat.o $(BUILD)/plat-lib/intr.o): guest.mk files are
# included in name order, and prerequisites are expanded when a rule is read.

$(BUILD)/plat-lib/%.o: plat-lib/%.c plat-lib/plat.h lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -Iplat-lib -c $< -o $@

$(BUILD)/plat-lib/%.o: plat-lib/%.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@
