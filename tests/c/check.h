/* A minimal test harness: CHECK records failures and keeps going; main returns
 * the failure count so ctest sees it. */
#ifndef DS_TEST_CHECK_H
#define DS_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

static int test_failures = 0;
#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
      test_failures++;                                                            \
    }                                                                             \
  } while (0)
#define CHECK_CONTAINS(str, needle)                                               \
  do {                                                                            \
    const char *s_ = (str);                                                       \
    if (!s_ || !strstr(s_, (needle))) {                                           \
      fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__,   \
              (needle), s_ ? s_ : "(null)");                                      \
      test_failures++;                                                            \
    }                                                                             \
  } while (0)
#define TEST_DONE()                                                               \
  do {                                                                            \
    printf("%s\n", test_failures ? "FAILED" : "ok");                             \
    return test_failures ? 1 : 0;                                                 \
  } while (0)
#endif
