/* Host tool: builds the bios-boot disk image: the MBR at LBA 0, stage 2 from LBA 1, and from LBA 32 on the
   pattern sectors stage 2 checks (sector s: s as a little-endian dword, then byte i = (s*7 + i*13 + (s>>8)) & 0xff).
   8192 sectors (4 MiB): 8 cylinders of 16 heads x 63 sectors, no CHS translation needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTORS 8192
#define STAGE2_LBA 1
#define PATTERN_FIRST 32

static long load(const char *path, unsigned char *buf, long max)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    long n = (long)fread(buf, 1, (size_t)max + 1, f);
    fclose(f);
    if (n > max) { fprintf(stderr, "%s: larger than %ld bytes\n", path, max); exit(1); }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: mkdisk MBR STAGE2 OUT\n"); return 2; }
    static unsigned char disk[SECTORS * 512];
    if (load(argv[1], disk, 512) != 512) { fprintf(stderr, "%s: not 512 bytes\n", argv[1]); return 1; }
    if (disk[510] != 0x55 || disk[511] != 0xaa) { fprintf(stderr, "%s: no 55aa signature\n", argv[1]); return 1; }
    load(argv[2], disk + STAGE2_LBA * 512, (PATTERN_FIRST - STAGE2_LBA) * 512);
    for (unsigned s = PATTERN_FIRST; s < SECTORS; s++) {
        unsigned char *p = disk + s * 512;
        p[0] = (unsigned char)s; p[1] = (unsigned char)(s >> 8); p[2] = (unsigned char)(s >> 16); p[3] = (unsigned char)(s >> 24);
        for (unsigned i = 4; i < 512; i++) p[i] = (unsigned char)(s * 7 + i * 13 + (s >> 8));
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f) { perror(argv[3]); return 1; }
    if (fwrite(disk, 1, sizeof disk, f) != sizeof disk) { perror("write"); return 1; }
    return fclose(f) != 0;
}
