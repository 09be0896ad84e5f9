# mini-stos: a kernel booted through the stos protocol that walks and checks its boot_interface.
# Also builds the files it is booted with: two .ko modules (ELF32 relocatable objects) and a cpio newc initramfs.
GUESTS += $(BUILD)/ministos.elf $(BUILD)/ministos/hello.ko $(BUILD)/ministos/greet.ko $(BUILD)/ministos/initramfs.cpio

MINISTOS_INITRAMFS_FILES := $(shell find ministos/initramfs -type f 2>/dev/null)

$(BUILD)/ministos/%.o: ministos/%.c lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS32) -c $< -o $@

$(BUILD)/ministos/entry.o: ministos/entry.asm
	@mkdir -p $(dir $@)
	$(NASM) $(NASMFLAGS32) $< -o $@

$(BUILD)/ministos.elf: $(BUILD)/ministos/entry.o $(BUILD)/ministos/ministos.o $(LIB32_OBJS) ministos/ministos.ld
	$(LD) $(LDFLAGS32) -T ministos/ministos.ld -o $@ $(filter %.o,$^) $(LIBGCC32)

# Modules are plain relocatable objects, no debug info (small, and their first symbol is stable).
$(BUILD)/ministos/%.ko: ministos/mod_%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -g,$(CFLAGS32)) -c $< -o $@

# Sorted names, owner 0:0, --reproducible: the archive depends only on the files' names, modes and contents (and mtimes).
$(BUILD)/ministos/initramfs.cpio: $(MINISTOS_INITRAMFS_FILES)
	@mkdir -p $(dir $@)
	cd ministos/initramfs && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible > $(abspath $@)
