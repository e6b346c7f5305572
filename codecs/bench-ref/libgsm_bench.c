/* Reference timing for GSM 06.10: libgsm (Debian libgsm1-dev) encoding and decoding the same
 * audio as codecs/examples/bench_codecs.rs. Prints samples per second of thread CPU time (so a
 * busy machine does not count against either side), best of ROUNDS.
 * Usage: libgsm_bench FILE.s16le SECONDS_OF_AUDIO_PER_ROUND ROUNDS */
#include <gsm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE.s16le SECONDS ROUNDS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static short file[8000 * 60];
    size_t n = fread(file, sizeof(short), sizeof(file) / sizeof(file[0]), f);
    fclose(f);
    size_t frames_in_file = n / 160;
    if (frames_in_file == 0) { fprintf(stderr, "input too short\n"); return 1; }
    size_t frames = (size_t)(atof(argv[2]) * 8000 / 160);
    int rounds = atoi(argv[3]);

    gsm_byte *coded = malloc(frames * 33);
    gsm_signal out[160];
    double best_enc = 1e30, best_dec = 1e30;
    long check = 0;
    for (int r = 0; r < rounds; r++) {
        gsm enc = gsm_create();
        double t0 = now();
        for (size_t i = 0; i < frames; i++)
            gsm_encode(enc, file + (i % frames_in_file) * 160, coded + i * 33);
        double t1 = now();
        gsm_destroy(enc);
        gsm dec = gsm_create();
        double t2 = now();
        for (size_t i = 0; i < frames; i++) {
            if (gsm_decode(dec, coded + i * 33, out) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
            check += out[i % 160];
        }
        double t3 = now();
        gsm_destroy(dec);
        if (t1 - t0 < best_enc) best_enc = t1 - t0;
        if (t3 - t2 < best_dec) best_dec = t3 - t2;
    }
    printf("libgsm_encode %.0f\nlibgsm_decode %.0f\nchecksum %ld\n", frames * 160 / best_enc, frames * 160 / best_dec, check);
    free(coded);
    return 0;
}
