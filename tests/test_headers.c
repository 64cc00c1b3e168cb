/* test_headers.c — each public header of include/ compiles alone as C11 -pedantic and as C++ and
 * its functions link from both (test_header_one.c, built once per header and language). */
int header_1_c(void), header_2_c(void), header_3_c(void);
int header_1_cxx(void), header_2_cxx(void), header_3_cxx(void);

int main(void) {
    int ok = header_1_c() + header_2_c() + header_3_c() + header_1_cxx() + header_2_cxx() + header_3_cxx();
    return ok == 6 ? 0 : 1;
}
