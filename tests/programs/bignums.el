; bignums.el: batch elisp with bignums, strings and hash tables; its output
; must be identical with and without libgclzone. GCLZONE_TEST_SCALE (env)
; multiplies the work for the long run. At the end, with the strings and
; the hash table still live, a collection, and Emacs's own count of the
; bytes its live objects take (`garbage-collect': every kind's size times
; its live count) on stderr: Emacs keeps its objects in blocks it gets from
; malloc, so tests/programs.sh checks that the preloaded run's arena holds
; at least that much at exit.
(let* ((scale (string-to-number (or (getenv "GCLZONE_TEST_SCALE") "1")))
       (f 1) (acc nil))
  ;; 3000! scale times over: a larger factorial passes Emacs's bignum limit
  ;; (integer-width, 65536 bits: 6000! is past it).
  (dotimes (_ scale) (setq f 1) (dotimes (i 3000) (setq f (* f (1+ i)))))
  (princ (format "%d! has %d digits, sum %d\n" 3000 (length (number-to-string f))
                 (apply #'+ (mapcar (lambda (c) (- c ?0)) (number-to-string f)))))
  (princ (format "2^4000 mod 10^30 = %d\n" (% (expt 2 4000) (expt 10 30))))
  (dotimes (i (* 20000 scale)) (push (make-string (% i 100) ?x) acc))
  (princ (format "strings %d chars %d\n" (length acc) (apply #'+ (mapcar #'length acc))))
  (let ((h (make-hash-table :test 'equal)))
    (dotimes (i (* 50000 scale)) (puthash (format "k%d" (* i 7919)) (expt i 3) h))
    (princ (format "hash %d %d\n" (hash-table-count h) (gethash "k7919" h)))
    (let ((live 0))
      (dolist (kind (garbage-collect))
        (setq live (+ live (* (nth 1 kind) (nth 2 kind)))))
      (message "lisp-live-bytes %d %d %d" live (length acc) (hash-table-count h)))))
