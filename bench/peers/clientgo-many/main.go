// clientgo-many: the client-go counterpart of bench/many-leases (issue #14): N LeaderElectors
// on N Leases in one process, one per Lease as client-go users write it, sharing one clientset
// (one HTTP/2 connection). client-go's elector has no watch: followers GET every retry period.
// The rest config's client-side rate limit is lifted (--qps, --burst): at its default of 5 QPS
// a thousand leaders could not renew at all, and a user running many electors raises it too.
//
//	clientgo-many --kubeconfig F --namespace NS --prefix P --count N --id ID
//	              [--lease-duration D] [--renew-deadline D] [--retry-period D]
//
// SIGUSR1 prints, as bench/many-leases does:
//
//	status leading=L following=F lost=X heap=B requests=R GET=.. PUT=.. POST=..
// heap: runtime.MemStats.HeapAlloc (live heap objects, as our heap= is malloc's live bytes).
//
// SIGTERM/SIGINT print it once more, cancel every elector (ReleaseOnCancel) and exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

// counter counts requests at the transport by verb (a watch is WATCH).
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	next   http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	verb := r.Method
	if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
		verb = "WATCH"
	}
	c.mu.Lock()
	c.counts[verb]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func main() {
	klog.InitFlags(nil)
	var kubeconfig, namespace, prefix, id string
	var count, burst int
	var qps float64
	var leaseDuration, renewDeadline, retryPeriod time.Duration
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (required)")
	flag.StringVar(&namespace, "namespace", "default", "the Leases' namespace")
	flag.StringVar(&prefix, "prefix", "", "Leases are PREFIX-0 .. PREFIX-(N-1) (required)")
	flag.StringVar(&id, "id", "", "holder identity (required)")
	flag.IntVar(&count, "count", 1, "N: how many Leases (one LeaderElector each)")
	flag.Float64Var(&qps, "qps", 100000, "rest.Config QPS (client-side rate limit)")
	flag.IntVar(&burst, "burst", 100000, "rest.Config Burst")
	flag.DurationVar(&leaseDuration, "lease-duration", 15*time.Second, "LeaseDuration")
	flag.DurationVar(&renewDeadline, "renew-deadline", 10*time.Second, "RenewDeadline")
	flag.DurationVar(&retryPeriod, "retry-period", 2*time.Second, "RetryPeriod")
	flag.Parse()
	if kubeconfig == "" || prefix == "" || id == "" || count < 1 {
		klog.Fatal("--kubeconfig, --prefix, --id and --count >= 1 are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		klog.Fatal(err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	cfg.UserAgent = "clientgo-many/" + id
	cnt := &counter{counts: map[string]int{}}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt })
	client := clientset.NewForConfigOrDie(cfg)

	var stopping atomic.Bool
	var lost atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	electors := make([]*leaderelection.LeaderElector, count)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: namespace},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		}
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true, Name: lock.LeaseMeta.Name,
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) {},
				OnStoppedLeading: func() {
					if !stopping.Load() {
						lost.Add(1)
					}
				},
			},
		})
		if err != nil {
			klog.Fatal(err)
		}
		electors[i] = le
		wg.Add(1)
		go func() { defer wg.Done(); le.Run(ctx) }()
	}

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	fmt.Println("ready") // SIGUSR1 is handled from here on (the bench waits for this line)
	status := func() {
		leading, following := 0, 0
		for _, le := range electors {
			if le.IsLeader() {
				leading++
			} else if l := le.GetLeader(); l != "" && l != id {
				following++
			}
		}
		cnt.mu.Lock()
		total, verbs := 0, make([]string, 0, len(cnt.counts))
		for k, v := range cnt.counts {
			total += v
			verbs = append(verbs, fmt.Sprintf("%s=%d", k, v))
		}
		cnt.mu.Unlock()
		sort.Strings(verbs)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("status leading=%d following=%d lost=%d heap=%d requests=%d %s\n", leading, following, lost.Load(),
			ms.HeapAlloc, total, strings.Join(verbs, " "))
	}
	for s := range sig {
		if s == syscall.SIGUSR1 {
			status()
			continue
		}
		stopping.Store(true)
		status()
		cancel()
		break
	}
	wg.Wait()
}
